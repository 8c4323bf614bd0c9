"""Run the source_stripe CLI with `python -m source_stripe`."""
from source_stripe.cli import main

if __name__ == "__main__":
    main()
