package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

const minimalLake = "kafka:\n  brokers: [\"127.0.0.1:9092\"]\nwarehouse:\n  path: /var/lib/tributary/lake\nsources:\n  - topic_prefix: orders-db\n"

func TestParseLakeNotify(t *testing.T) {
	t.Setenv("HOOK_SECRET", "s3cret")
	l, err := ParseLake("lake.yaml", []byte(minimalLake+"notify:\n  kafka_topic: lake._commits\n  webhook:\n    url: https://hooks.internal/lake\n    secret: ${HOOK_SECRET}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := LakeNotify{KafkaTopic: "lake._commits", Webhook: &Webhook{URL: "https://hooks.internal/lake", Secret: "s3cret",
		Timeout: Duration(5 * time.Second), Retries: 5, QueueSize: 1000}}
	if !reflect.DeepEqual(l.Notify, want) {
		t.Errorf("notify = %+v, webhook %+v", l.Notify, *l.Notify.Webhook)
	}
	l, err = ParseLake("lake.yaml", []byte(minimalLake))
	if err != nil || l.Notify.Webhook != nil || l.Notify.KafkaTopic != "" {
		t.Errorf("no notify block: %+v, %v", l.Notify, err)
	}
}

func TestLakeNotifyErrors(t *testing.T) {
	_, err := ParseLake("lake.yaml", []byte(minimalLake+"notify:\n  kafka_topic: \"a b\"\n  webhook:\n    url: ftp://x/y\n    retries: 50\n    queue_size: -1\n"))
	got := errLines(err)
	want := []string{
		`notify.kafka_topic at lake.yaml:8:3: "a b" is not a Kafka topic name; use letters, digits, ".", "_" and "-", such as lake._commits`,
		`notify.webhook.url at lake.yaml:10:5: "ftp://x/y" is not an http or https URL; write it like https://hooks.internal/lake`,
		`notify.webhook.retries at lake.yaml:11:5: 50 is out of range; use 1 to 20 (default 5)`,
		`notify.webhook.queue_size at lake.yaml:12:5: -1 is out of range; use 1 to 1000000 (default 1000)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("error lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	_, err = ParseLake("lake.yaml", []byte(minimalLake+"notify:\n  webhook: {timeout: 2s}\n"))
	if got := errLines(err); len(got) != 1 || !strings.HasPrefix(got[0], "notify.webhook.url") || !strings.Contains(got[0], "required") {
		t.Errorf("webhook without url: %v", got)
	}
}
