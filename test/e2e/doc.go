// Package e2e runs the payment → accounting example end to end as real OS
// processes: `courier dev`, examples/payment and examples/accounting, built
// from this checkout, with the payment service killed (SIGKILL) at the worst
// moments of its transaction and the accounting service in the middle of its
// work. See TestPaymentToAccounting.
package e2e
