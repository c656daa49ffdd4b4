"""ペーパーレス化状況チェック (Paperless Check)."""
