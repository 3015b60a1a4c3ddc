"""One thin module per DVC stage: ``main()`` reads its params section, calls library code, writes outputs."""
