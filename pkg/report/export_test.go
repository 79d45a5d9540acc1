package report

// GoldenCompare is goldenCompare for the tests in package report_test:
// those use the fixtures of internal/reporttest, which imports this
// package, so they cannot be tests inside it.
var GoldenCompare = goldenCompare

// MDEscape is the Markdown escape, for the fuzz test in package
// report_test.
var MDEscape = mdEscape

// ReadResultLimit is ReadResult with a bound small enough for a test.
var ReadResultLimit = readResult
