from opswarden.cli.main import main

main()
