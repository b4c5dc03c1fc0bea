"""Virtual gateways, scenarios, ground truth and scorecards for tests, demos and load tests."""
