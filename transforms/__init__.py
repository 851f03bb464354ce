"""The pipeline's steps (ships to workers). records.py (the data contract) and tables.py (table layouts) are the bottom
layer every subpackage may import; above them source/ and direct/, then run_record/, then oic/ (the caller). No module
imports one above it (tests/repo/test_layout.py)."""
