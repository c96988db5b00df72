from porch.cli import main

main(args=["static", *__import__("sys").argv[1:]], prog_name="python -m porch.static")
