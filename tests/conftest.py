pytest_plugins = ["tests.support.fixtures", "tests.support.slurm_fixtures"]
