"""LongVT's verl adapter. Importing this package imports nothing from verl; the modules inside do, when used."""
