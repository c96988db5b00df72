from porch.cli import main

main(prog_name="porch")
