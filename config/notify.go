package config

import (
	"net/url"
	"time"
)

// LakeNotify says where the compactors announce each lake commit (a
// snapshot of one table): a Kafka topic, an HTTP webhook, both or neither.
type LakeNotify struct {
	// KafkaTopic receives one JSON record per commit, keyed by the lake
	// table; empty means no Kafka notifications.
	KafkaTopic string `yaml:"kafka_topic"`
	// Webhook receives a POST per commit; nil means none.
	Webhook *Webhook `yaml:"webhook"`
}

// Webhook is an HTTP endpoint that receives commit notifications.
type Webhook struct {
	// URL is the http or https URL to POST to.
	URL string `yaml:"url"`
	// Secret signs each body with HMAC-SHA256 (header
	// X-Tributary-Signature-256); empty means unsigned.
	Secret Secret `yaml:"secret"`
	// BearerToken is sent as "Authorization: Bearer <token>"; empty means none.
	BearerToken Secret `yaml:"bearer_token"`
	// Timeout bounds one attempt; default 5s.
	Timeout Duration `yaml:"timeout"`
	// Retries is how many times a failed attempt is tried again; default 5.
	Retries int `yaml:"retries"`
	// QueueSize is how many notifications wait at most before the oldest
	// is dropped; default 1000.
	QueueSize int `yaml:"queue_size"`
}

func (n *LakeNotify) applyDefaults() {
	if w := n.Webhook; w != nil {
		setDefault(&w.Timeout, Duration(5*time.Second))
		setDefault(&w.Retries, 5)
		setDefault(&w.QueueSize, 1000)
	}
}

func (n *LakeNotify) validate(p *problems) {
	if n.KafkaTopic != "" && !topicRE.MatchString(n.KafkaTopic) {
		p.add("notify.kafka_topic", "%q is not a Kafka topic name; use letters, digits, \".\", \"_\" and \"-\", such as lake._commits", n.KafkaTopic)
	}
	w := n.Webhook
	if w == nil {
		return
	}
	if u, err := url.Parse(w.URL); w.URL == "" {
		p.add("notify.webhook.url", "required with webhook; set it to the endpoint, such as https://hooks.internal/lake")
	} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add("notify.webhook.url", "%q is not an http or https URL; write it like https://hooks.internal/lake", w.URL)
	}
	if w.Timeout < 0 || w.Timeout > Duration(5*time.Minute) {
		p.add("notify.webhook.timeout", "%s is out of range; use a duration from 1ms to 5m (default 5s)", w.Timeout)
	}
	if w.Retries < 0 || w.Retries > 20 {
		p.add("notify.webhook.retries", "%d is out of range; use 1 to 20 (default 5)", w.Retries)
	}
	if w.QueueSize < 0 || w.QueueSize > 1_000_000 {
		p.add("notify.webhook.queue_size", "%d is out of range; use 1 to 1000000 (default 1000)", w.QueueSize)
	}
}
