pytest_plugins = ["tests.support.mosquitto_broker"]
