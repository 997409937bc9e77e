// Package prometheus holds no code: it is the home of the Prometheus alert
// rules (alerts.yml) and their promtool unit tests (alerts_test.yml), and
// its Go test runs "promtool check rules" and "promtool test rules" so the
// rules are checked with the rest of the test suite.
package prometheus
