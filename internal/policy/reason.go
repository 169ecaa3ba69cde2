package policy

import "github.com/synguard/synguard/internal/origin"

// Reason says why an alert, request or payload was refused. Its values are
// the label values of synguard_responder_refused_total.
type Reason string

// Per-alert refusals: the notification is answered 2xx, because Alertmanager
// sending it again would be refused the same way.
const (
	// ReasonNone means not refused.
	ReasonNone Reason = ""
	// ReasonUnmatched is an alert the configured matchers do not select.
	ReasonUnmatched Reason = "unmatched"
	// ReasonOtherHost is a host-scoped alert for another host.
	ReasonOtherHost Reason = "other_host"
	// ReasonNoPrefix is a matching alert without the prefix label.
	ReasonNoPrefix Reason = "no_prefix"
	// ReasonBadPrefix is a prefix label that does not parse.
	ReasonBadPrefix Reason = "bad_prefix"
	// ReasonTooBroad is a prefix shorter than the family's minimum length.
	ReasonTooBroad Reason = "too_broad"
	// ReasonAllowlisted is a prefix overlapping the allowlist.
	ReasonAllowlisted Reason = "allowlisted"
	// ReasonCapReached is a new block refused because the cap is reached.
	ReasonCapReached Reason = "cap_reached"
	// ReasonRateLimited is a new block refused by the rate limit.
	ReasonRateLimited Reason = "rate_limited"
	// ReasonPaused is an alert acknowledged while the responder is paused.
	ReasonPaused Reason = "paused"
	// ReasonTruncated counts alerts Alertmanager left out of a notification
	// (its max_alerts); they were never seen.
	ReasonTruncated Reason = "truncated"
	// ReasonOriginCountryProtected is a prefix from a never-block country.
	ReasonOriginCountryProtected Reason = origin.RefusedProtectedCountry
	// ReasonOriginASNProtected is a prefix from a never-block AS.
	ReasonOriginASNProtected Reason = origin.RefusedProtectedASN
	// ReasonOriginCountryNotListed is a prefix outside the only-block countries.
	ReasonOriginCountryNotListed Reason = origin.RefusedNotListedCountry
	// ReasonOriginASNNotListed is a prefix outside the only-block ASes.
	ReasonOriginASNNotListed Reason = origin.RefusedNotListedASN
	// ReasonOriginUnknown is a prefix of unknown origin under an only-list
	// with refuse_unknown.
	ReasonOriginUnknown Reason = origin.RefusedUnknown
)

// Payload refusals: the whole notification is answered 4xx and nothing in it
// is applied.
const (
	// ReasonBadJSON is a body that is not JSON, or not the webhook's shape.
	ReasonBadJSON Reason = "bad_json"
	// ReasonBadVersion is a webhook version other than 4.
	ReasonBadVersion Reason = "bad_version"
	// ReasonCustomPayload is a JSON body without the webhook fields, as a
	// custom Alertmanager payload template sends.
	ReasonCustomPayload Reason = "custom_payload"
	// ReasonBodyTooLarge is a body over the configured size limit.
	ReasonBodyTooLarge Reason = "body_too_large"
	// ReasonTooManyAlerts is a notification with more alerts than allowed.
	ReasonTooManyAlerts Reason = "too_many_alerts"
	// ReasonUnauthorized is a request without the configured bearer token.
	ReasonUnauthorized Reason = "unauthorized"
	// ReasonCrossOrigin is a browser's cross-origin request (a web page
	// trying to post alerts or change blocks).
	ReasonCrossOrigin Reason = "cross_origin"
)

// Reasons lists every reason, so that metrics can show each one at zero.
var Reasons = []Reason{
	ReasonUnmatched, ReasonOtherHost, ReasonNoPrefix, ReasonBadPrefix, ReasonTooBroad,
	ReasonAllowlisted, ReasonCapReached, ReasonRateLimited, ReasonPaused, ReasonTruncated,
	ReasonOriginCountryProtected, ReasonOriginASNProtected, ReasonOriginCountryNotListed,
	ReasonOriginASNNotListed, ReasonOriginUnknown,
	ReasonBadJSON, ReasonBadVersion, ReasonCustomPayload, ReasonBodyTooLarge,
	ReasonTooManyAlerts, ReasonUnauthorized, ReasonCrossOrigin,
}
