"""What a gathering says of each configured URL: its outcome, which of its errors tells most, why it failed."""
