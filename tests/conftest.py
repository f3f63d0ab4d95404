pytest_plugins = [
    "tests.support.fixtures",
    "tests.support.scenarios",
    "tests.support.slurm_fixtures",
]
