from pgcli.shell.cli import main

main()
