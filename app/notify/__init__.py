"""Notifications: the sender that drains the outbox (``sender``), its channels (SMTP relay, Teams Workflows
webhook: ``channels``), reminder rules and their preview (``reminders``), and the pages (reminders per
round, 送信できなかった通知, 通知設定, where a 部局 is told). What to send is written by the rooms through
``app.outbox.enqueue`` in their own transactions."""
