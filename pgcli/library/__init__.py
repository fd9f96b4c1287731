"""The reproduction library: pgcli's own specs, shipped in the package (`pgcli list`).

Each spec is data, not code: `pgcli train cartpole` runs cartpole.yaml from here; `pgcli copy
cartpole` writes it out for editing. Its leading comment says what it reproduces; a `# time:`
line how long it takes on 2 cores. Those with an `expect:` block are checked by `pgcli check`.
"""
