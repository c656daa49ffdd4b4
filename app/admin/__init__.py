"""The administrators' pages over several rooms: rounds (opening one creates every 所属's sheet) and checklist
versions (which rounds use each). They sit above the rooms they join."""
