"""What happened and why: explain, the admin overview, and how times are shown."""
