"""``python -m adcml.serve --model ...``: the model server on its own, same options as ``adcml serve``."""

import logging

from adcml.serve.command import serve

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve.main(prog_name="python -m adcml.serve")
