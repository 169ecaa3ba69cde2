package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/alertmanager/template"

	"github.com/synguard/synguard/internal/policy"
)

// Message is Alertmanager's webhook body: the template data plus the
// protocol fields.
type Message struct {
	template.Data
	// Version is the webhook protocol version; this package reads "4".
	Version string `json:"version"`
	// GroupKey identifies the alert group the notification is for.
	GroupKey string `json:"groupKey"`
	// TruncatedAlerts counts alerts Alertmanager left out (its max_alerts).
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// Alert statuses in a notification.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Error is a refusal of a whole notification.
type Error struct {
	// Status is the HTTP status code answered.
	Status int
	// Reason is the refusal reason counted.
	Reason policy.Reason
	// Msg says what is wrong, for Alertmanager's log.
	Msg string
}

// Error implements error.
func (e *Error) Error() string { return e.Msg }

var _ error = &Error{}

// Decode parses a webhook body and checks it is a complete version 4
// notification with at most maxAlerts alerts (0: no limit), each firing or
// resolved. It never returns a partly valid message.
func Decode(body []byte, maxAlerts int) (*Message, *Error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, &Error{http.StatusBadRequest, policy.ReasonBadJSON,
			"body is not a JSON object: Alertmanager's webhook sends one (was the body replaced by a custom payload template?)"}
	}
	// Presence of the protocol fields tells a custom payload apart from a
	// webhook body with a wrong version.
	var probe struct {
		Version *string          `json:"version"`
		Alerts  *json.RawMessage `json:"alerts"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, &Error{http.StatusBadRequest, policy.ReasonBadJSON, "malformed JSON: " + jsonMessage(err)}
	}
	if probe.Version == nil && probe.Alerts == nil {
		return nil, &Error{http.StatusBadRequest, policy.ReasonCustomPayload,
			`JSON object without "version" and "alerts": not Alertmanager's webhook body; remove the custom "payload" from the webhook_config that sends here`}
	}
	if probe.Version == nil || *probe.Version != "4" {
		v := "none"
		if probe.Version != nil {
			v = fmt.Sprintf("%q", *probe.Version)
		}
		return nil, &Error{http.StatusBadRequest, policy.ReasonBadVersion,
			fmt.Sprintf(`webhook version %s, this responder reads version "4"`, v)}
	}
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, &Error{http.StatusBadRequest, policy.ReasonBadJSON, "malformed webhook body: " + jsonMessage(err)}
	}
	if maxAlerts > 0 && len(m.Alerts) > maxAlerts {
		return nil, &Error{http.StatusRequestEntityTooLarge, policy.ReasonTooManyAlerts,
			fmt.Sprintf("%d alerts in one notification, at most %d are accepted; set max_alerts in the webhook_config (the rest arrive in later notifications)", len(m.Alerts), maxAlerts)}
	}
	for i, a := range m.Alerts {
		if a.Status != StatusFiring && a.Status != StatusResolved {
			return nil, &Error{http.StatusBadRequest, policy.ReasonBadJSON,
				fmt.Sprintf("alert %d: status %q is neither %q nor %q", i+1, a.Status, StatusFiring, StatusResolved)}
		}
	}
	return &m, nil
}

// jsonMessage shortens encoding/json's errors to what an operator needs.
func jsonMessage(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v at byte %d", se, se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q: %s where %s was expected", strings.TrimPrefix(te.Field, "Data."), te.Value, te.Type)
	}
	return err.Error()
}

// PolicyAlerts converts the message's alerts for policy.
func (m *Message) PolicyAlerts() []policy.Alert {
	out := make([]policy.Alert, len(m.Alerts))
	for i, a := range m.Alerts {
		out[i] = policy.Alert{Firing: a.Status == StatusFiring, Labels: a.Labels, Summary: a.Annotations["summary"]}.Bounded()
	}
	return out
}
