package gpustats

// IndexDelay is indexDelay, for tests that move a fake clock past it.
const IndexDelay = indexDelay

// Unflatten is unflatten, for the table tests of stream entries.
var Unflatten = unflatten

// RecheckDelay is recheckDelay, for tests on a fake clock.
const RecheckDelay = recheckDelay
