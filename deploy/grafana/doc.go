// Package grafana holds no code: it is the home of the Grafana dashboard
// (cabalmail.json, one row per tier), and its Go test checks that the file
// is valid dashboard JSON, that every PromQL expression in it names only
// metrics the product exports, and (with promtool installed) that every
// expression parses.
package grafana
