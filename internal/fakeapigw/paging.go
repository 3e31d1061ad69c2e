package fakeapigw

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Page sizes. AWS: API reference GetBasePathMappings and GetDeployments
// (apigateway): "limit: The maximum number of returned results per page.
// The default value is 25 and the maximum value is 500." apigateway's
// GetStages takes no paging parameters and returns every stage (SDK model:
// GetStagesInput has only restApiId and deploymentId). apigatewayv2's
// GetApiMappings, GetStages, GetDeployments and ListRoutingRules take
// maxResults and nextToken with no documented default or maximum: the
// fake's default is v2DefaultPage and it returns at most v2MaxPage items
// whatever is asked, so a client must follow nextToken.
const (
	v1DefaultPage = 25
	v1MaxPage     = 500
	v2DefaultPage = 25
	v2MaxPage     = 100
)

// pageToken is opaque to clients: base64 of a tag and an offset, checked
// on the way back so that a made-up or cross-collection token is refused.
func pageToken(tag string, offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(tag + ":" + strconv.Itoa(offset)))
}

func parseToken(tag, tok string) (int, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	t, n, ok := strings.Cut(string(raw), ":")
	off, err := strconv.Atoi(n)
	return off, ok && err == nil && t == tag && off > 0
}

// pageV1 pages n items the apigateway way (limit, position).
func pageV1(c *call, tag string, n int) (lo, hi int, position string, e *apiError) {
	size := v1DefaultPage
	if s := c.query.Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > v1MaxPage {
			return 0, 0, "", badRequest("Invalid limit %q: must be between 1 and %d", s, v1MaxPage)
		}
		size = v
	}
	return page(c.query.Get("position"), tag, n, size, "position")
}

// pageV2 pages n items the apigatewayv2 way (maxResults, nextToken).
func pageV2(c *call, tag string, n int) (lo, hi int, next string, e *apiError) {
	size := v2DefaultPage
	if s := c.query.Get("maxResults"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			return 0, 0, "", badRequest("Invalid maxResults %q", s)
		}
		size = min(v, v2MaxPage)
	}
	return page(c.query.Get("nextToken"), tag, n, size, "nextToken")
}

func page(tok, tag string, n, size int, name string) (lo, hi int, next string, e *apiError) {
	if tok != "" {
		off, ok := parseToken(tag, tok)
		if !ok || off > n {
			return 0, 0, "", badRequest("Invalid %s specified", name)
		}
		lo = off
	}
	hi = min(n, lo+size)
	if hi < n {
		next = pageToken(tag, hi)
	}
	return lo, hi, next, nil
}
