"""The store seam: the only code that knows which database it runs on."""
