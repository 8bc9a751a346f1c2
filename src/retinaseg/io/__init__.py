"""Writing files: atomic outputs (every file of a job appears, or none), the one
table writer, and the record of which machine and software wrote a file."""
