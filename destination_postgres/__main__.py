"""Run the destination_postgres CLI with `python -m destination_postgres`."""
from destination_postgres.cli import main

if __name__ == "__main__":
    main()
