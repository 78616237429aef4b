from bonepick.cli.main import main

main()
