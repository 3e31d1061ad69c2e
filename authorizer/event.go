package authorizer

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Payload is the authorizer event format.
type Payload int

// Payload formats. REST APIs send 1.0; HTTP APIs 1.0 or 2.0 as configured.
const (
	PayloadREST   Payload = iota // REST API REQUEST authorizer (no "version" field)
	PayloadHTTPV1                // HTTP API, payload format 1.0
	PayloadHTTPV2                // HTTP API, payload format 2.0
)

func (p Payload) String() string {
	return [...]string{"rest-1.0", "http-1.0", "http-2.0"}[p]
}

// Event is what the authorizer needs of an API Gateway event.
type Event struct {
	Payload   Payload
	Resource  string // methodArn (1.0) or routeArn (2.0): what the policy names
	RequestID string
	// ClientCertPEM is empty when the request carried no certificate:
	// mutual TLS is not enabled on the domain, or the default endpoint was
	// used.
	ClientCertPEM string
}

type clientCert struct {
	ClientCertPEM string `json:"clientCertPem"`
}

type rawEvent struct {
	Version        *string `json:"version"`
	Type           string  `json:"type"`
	MethodArn      string  `json:"methodArn"`
	RouteArn       string  `json:"routeArn"`
	RequestContext struct {
		RequestID string `json:"requestId"`
		Identity  struct {
			ClientCert *clientCert `json:"clientCert"`
		} `json:"identity"`
		Authentication *struct {
			ClientCert *clientCert `json:"clientCert"`
		} `json:"authentication"`
	} `json:"requestContext"`
}

// maxEventBytes: API Gateway events are bounded by its own request limits;
// anything much larger is not from it.
const maxEventBytes = 1 << 20

// ParseEvent reads an authorizer event and tells its payload format: a
// "version" of "2.0" is HTTP payload 2.0, "1.0" HTTP payload 1.0, and no
// version at all a REST API's REQUEST authorizer. TOKEN authorizers carry
// no client certificate and are refused.
func ParseEvent(data []byte) (*Event, error) {
	if len(data) > maxEventBytes {
		return nil, fmt.Errorf("event is %d bytes, more than %d", len(data), maxEventBytes)
	}
	var raw rawEvent
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("event is not JSON: %w", err)
	}
	e := &Event{RequestID: raw.RequestContext.RequestID}
	var cert *clientCert
	switch {
	case raw.Version == nil && raw.Type == "REQUEST":
		e.Payload, e.Resource, cert = PayloadREST, raw.MethodArn, raw.RequestContext.Identity.ClientCert
	case raw.Version != nil && *raw.Version == "1.0":
		e.Payload, e.Resource, cert = PayloadHTTPV1, raw.MethodArn, raw.RequestContext.Identity.ClientCert
	case raw.Version != nil && *raw.Version == "2.0":
		e.Payload, e.Resource = PayloadHTTPV2, raw.RouteArn
		if raw.RequestContext.Authentication != nil {
			cert = raw.RequestContext.Authentication.ClientCert
		}
	case raw.Type == "TOKEN":
		return nil, errors.New("a TOKEN authorizer event carries no client certificate: configure a REQUEST authorizer")
	default:
		return nil, errors.New("not an API Gateway REQUEST authorizer event (no version 1.0 or 2.0, no type REQUEST)")
	}
	if e.Resource == "" {
		return nil, fmt.Errorf("%s event without its method or route ARN", e.Payload)
	}
	if cert != nil {
		e.ClientCertPEM = cert.ClientCertPEM
	}
	return e, nil
}
