// Package schema is the contract between the readers and the lake: the change
// event, the source position, the table schema with its neutral column types,
// and the Kafka encoding (a Debezium-compatible JSON envelope).
//
// It imports only the standard library. Readers map their native types onto
// the neutral Kind set here; the lake maps Kinds onto its own types. Neither
// side knows the other.
package schema
