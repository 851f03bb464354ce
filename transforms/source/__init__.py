"""Where records come from (ships): the synthetic source (bounded and streaming), CSV replay, the drain signal. Imports transforms.records and transforms.run_record.files."""
