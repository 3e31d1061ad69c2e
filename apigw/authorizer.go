package apigw

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	v1types "github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/apigatewayv2/types"
)

// Route is an HTTP API route or a REST API method ("GET /pets"), and how
// it is protected.
type Route struct {
	Key string `json:"route"`
	// ID is the route ID (HTTP) or the resource ID (REST).
	ID                string `json:"-"`
	AuthorizationType string `json:"authorization_type"`
	AuthorizerID      string `json:"authorizer_id,omitempty"`
}

// Authorizer is a Lambda REQUEST authorizer of an API.
type Authorizer struct {
	ID             string   `json:"id,omitempty"`
	Name           string   `json:"name"`
	Type           string   `json:"type"`
	URI            string   `json:"uri"`
	TTL            int32    `json:"result_ttl_seconds"`
	IdentitySource []string `json:"identity_source,omitempty"`
	// PayloadVersion and SimpleResponses are HTTP API settings.
	PayloadVersion  string `json:"payload_format_version,omitempty"`
	SimpleResponses bool   `json:"simple_responses,omitempty"`
}

// Same reports whether two authorizers have the same settings.
func (a Authorizer) Same(b Authorizer) bool {
	return a.Name == b.Name && a.Type == b.Type && a.URI == b.URI && a.TTL == b.TTL && strings.Join(a.IdentitySource, ",") == strings.Join(b.IdentitySource, ",") &&
		a.PayloadVersion == b.PayloadVersion && a.SimpleResponses == b.SimpleResponses
}

// Routes lists every route (HTTP) or method (REST) of an API, in key order.
func (c *Client) Routes(ctx context.Context, id string, t APIType) ([]Route, error) {
	var out []Route
	var err error
	if t == REST {
		out, err = every(func(pos *string) ([]Route, *string, error) {
			page, err := c.V1.GetResources(ctx, &apigateway.GetResourcesInput{RestApiId: aws.String(id), Embed: []string{"methods"}, Limit: aws.Int32(500), Position: pos})
			if err != nil {
				return nil, nil, classify(err, "list the resources of "+id)
			}
			var rs []Route
			for _, r := range page.Items {
				for verb, m := range r.ResourceMethods {
					rs = append(rs, Route{Key: verb + " " + aws.ToString(r.Path), ID: aws.ToString(r.Id),
						AuthorizationType: aws.ToString(m.AuthorizationType), AuthorizerID: aws.ToString(m.AuthorizerId)})
				}
			}
			return rs, page.Position, nil
		})
	} else {
		out, err = every(func(token *string) ([]Route, *string, error) {
			page, err := c.V2.GetRoutes(ctx, &apigatewayv2.GetRoutesInput{ApiId: aws.String(id), NextToken: token})
			if err != nil {
				return nil, nil, classify(err, "list the routes of "+id)
			}
			var rs []Route
			for _, r := range page.Items {
				rs = append(rs, Route{Key: aws.ToString(r.RouteKey), ID: aws.ToString(r.RouteId),
					AuthorizationType: string(r.AuthorizationType), AuthorizerID: aws.ToString(r.AuthorizerId)})
			}
			return rs, page.NextToken, nil
		})
	}
	if err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].AuthorizationType == "" {
			out[i].AuthorizationType = "NONE"
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Authorizers lists an API's authorizers.
func (c *Client) Authorizers(ctx context.Context, id string, t APIType) ([]Authorizer, error) {
	if t == REST {
		return every(func(pos *string) ([]Authorizer, *string, error) {
			page, err := c.V1.GetAuthorizers(ctx, &apigateway.GetAuthorizersInput{RestApiId: aws.String(id), Limit: aws.Int32(500), Position: pos})
			if err != nil {
				return nil, nil, classify(err, "list the authorizers of "+id)
			}
			var out []Authorizer
			for _, a := range page.Items {
				out = append(out, Authorizer{ID: aws.ToString(a.Id), Name: aws.ToString(a.Name), Type: string(a.Type), URI: aws.ToString(a.AuthorizerUri),
					TTL: aws.ToInt32(a.AuthorizerResultTtlInSeconds), IdentitySource: splitSources(aws.ToString(a.IdentitySource))})
			}
			return out, page.Position, nil
		})
	}
	return every(func(token *string) ([]Authorizer, *string, error) {
		page, err := c.V2.GetAuthorizers(ctx, &apigatewayv2.GetAuthorizersInput{ApiId: aws.String(id), NextToken: token})
		if err != nil {
			return nil, nil, classify(err, "list the authorizers of "+id)
		}
		var out []Authorizer
		for _, a := range page.Items {
			out = append(out, Authorizer{ID: aws.ToString(a.AuthorizerId), Name: aws.ToString(a.Name), Type: string(a.AuthorizerType), URI: aws.ToString(a.AuthorizerUri),
				TTL: aws.ToInt32(a.AuthorizerResultTtlInSeconds), IdentitySource: a.IdentitySource, PayloadVersion: aws.ToString(a.AuthorizerPayloadFormatVersion),
				SimpleResponses: aws.ToBool(a.EnableSimpleResponses)})
		}
		return out, page.NextToken, nil
	})
}

func splitSources(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// PutAuthorizer creates the authorizer (a.ID empty) or updates it, and
// returns its ID. Calls are paced by the account's request rate.
func (c *Client) PutAuthorizer(ctx context.Context, id string, t APIType, a Authorizer, onWait OnWait) (string, error) {
	doing := "create authorizer " + a.Name + " on " + id
	if a.ID != "" {
		doing = "update authorizer " + a.ID + " of " + id
	}
	var newID string
	err := c.write(ctx, control, onWait, func() error {
		var err error
		switch {
		case t == REST && a.ID == "":
			var out *apigateway.CreateAuthorizerOutput
			out, err = c.V1.CreateAuthorizer(ctx, &apigateway.CreateAuthorizerInput{RestApiId: aws.String(id), Name: aws.String(a.Name), Type: v1types.AuthorizerType(a.Type),
				AuthorizerUri: aws.String(a.URI), AuthorizerResultTtlInSeconds: aws.Int32(a.TTL), IdentitySource: optional(strings.Join(a.IdentitySource, ", "))}, noRetryV1)
			if err == nil {
				newID = aws.ToString(out.Id)
			}
		case t == REST:
			_, err = c.V1.UpdateAuthorizer(ctx, &apigateway.UpdateAuthorizerInput{RestApiId: aws.String(id), AuthorizerId: aws.String(a.ID), PatchOperations: restAuthorizerPatch(a)}, noRetryV1)
		case a.ID == "":
			var out *apigatewayv2.CreateAuthorizerOutput
			// identitySource is required by the API model; an empty list
			// is a REQUEST authorizer without one (no caching).
			out, err = c.V2.CreateAuthorizer(ctx, &apigatewayv2.CreateAuthorizerInput{ApiId: aws.String(id), Name: aws.String(a.Name), AuthorizerType: v2types.AuthorizerType(a.Type),
				AuthorizerUri: aws.String(a.URI), AuthorizerResultTtlInSeconds: aws.Int32(a.TTL), IdentitySource: nonNil(a.IdentitySource),
				AuthorizerPayloadFormatVersion: aws.String(a.PayloadVersion), EnableSimpleResponses: aws.Bool(a.SimpleResponses)}, noRetryV2)
			if err == nil {
				newID = aws.ToString(out.AuthorizerId)
			}
		default:
			_, err = c.V2.UpdateAuthorizer(ctx, &apigatewayv2.UpdateAuthorizerInput{ApiId: aws.String(id), AuthorizerId: aws.String(a.ID), AuthorizerUri: aws.String(a.URI),
				AuthorizerResultTtlInSeconds: aws.Int32(a.TTL), IdentitySource: nonNil(a.IdentitySource), AuthorizerPayloadFormatVersion: aws.String(a.PayloadVersion),
				EnableSimpleResponses: aws.Bool(a.SimpleResponses)}, noRetryV2)
		}
		return classify(err, doing)
	})
	if a.ID != "" {
		newID = a.ID
	}
	return newID, err
}

// restAuthorizerPatch is the UpdateAuthorizer patch of a REST authorizer.
// The identity source is replaced only with a value: the API takes no
// empty one (docs/aws.md), and without caching (TTL 0) a REQUEST
// authorizer ignores it for the cache; the caller keeps the one it has.
func restAuthorizerPatch(a Authorizer) []v1types.PatchOperation {
	ops := []v1types.PatchOperation{{Op: v1types.OpReplace, Path: aws.String("/authorizerUri"), Value: aws.String(a.URI)}}
	if len(a.IdentitySource) > 0 {
		ops = append(ops, v1types.PatchOperation{Op: v1types.OpReplace, Path: aws.String("/identitySource"), Value: aws.String(strings.Join(a.IdentitySource, ", "))})
	}
	return append(ops, v1types.PatchOperation{Op: v1types.OpReplace, Path: aws.String("/authorizerResultTtlInSeconds"), Value: aws.String(strconv.Itoa(int(a.TTL)))})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// DeleteAuthorizer deletes an authorizer no route uses any more.
func (c *Client) DeleteAuthorizer(ctx context.Context, id string, t APIType, authID string, onWait OnWait) error {
	return c.write(ctx, control, onWait, func() error {
		var err error
		if t == REST {
			_, err = c.V1.DeleteAuthorizer(ctx, &apigateway.DeleteAuthorizerInput{RestApiId: aws.String(id), AuthorizerId: aws.String(authID)}, noRetryV1)
		} else {
			_, err = c.V2.DeleteAuthorizer(ctx, &apigatewayv2.DeleteAuthorizerInput{ApiId: aws.String(id), AuthorizerId: aws.String(authID)}, noRetryV2)
		}
		return classify(err, "delete authorizer "+authID+" of "+id)
	})
}

// SetRouteAuth protects a route or method with an authorizer (CUSTOM), or
// with nothing when authID is "": then the authorizer ID is cleared
// explicitly too (an empty authorizerId, as Terraform sends), since an
// update of the type alone can leave the ID on the route, and an
// authorizer a route still names cannot be deleted.
func (c *Client) SetRouteAuth(ctx context.Context, id string, t APIType, r Route, authID string, onWait OnWait) error {
	typ := "CUSTOM"
	if authID == "" {
		typ = "NONE"
	}
	return c.write(ctx, control, onWait, func() error {
		var err error
		if t == REST {
			verb, _, _ := strings.Cut(r.Key, " ")
			ops := []v1types.PatchOperation{{Op: v1types.OpReplace, Path: aws.String("/authorizationType"), Value: aws.String(typ)},
				{Op: v1types.OpReplace, Path: aws.String("/authorizerId"), Value: aws.String(authID)}}
			_, err = c.V1.UpdateMethod(ctx, &apigateway.UpdateMethodInput{RestApiId: aws.String(id), ResourceId: aws.String(r.ID), HttpMethod: aws.String(verb), PatchOperations: ops}, noRetryV1)
		} else {
			in := &apigatewayv2.UpdateRouteInput{ApiId: aws.String(id), RouteId: aws.String(r.ID), AuthorizationType: v2types.AuthorizationType(typ), AuthorizerId: aws.String(authID)}
			_, err = c.V2.UpdateRoute(ctx, in, noRetryV2)
		}
		return classify(err, fmt.Sprintf("set the authorization of %s on %s", r.Key, id))
	})
}

// StageDeployment is a stage and the description of the deployment it
// serves.
type StageDeployment struct {
	Name        string `json:"stage"`
	AutoDeploy  bool   `json:"auto_deploy,omitempty"`
	Description string `json:"-"`
}

// StageDeployments lists an API's stages with their live deployment's
// description.
func (c *Client) StageDeployments(ctx context.Context, id string, t APIType) ([]StageDeployment, error) {
	stages, err := c.stages(ctx, id, t)
	if err != nil {
		return nil, err
	}
	deps, err := c.deployments(ctx, id, t)
	if err != nil {
		return nil, err
	}
	var out []StageDeployment
	for _, s := range stages {
		out = append(out, StageDeployment{Name: s.Name, AutoDeploy: s.AutoDeploy, Description: deps[s.DeploymentID].description})
	}
	return out, nil
}

// Deploy creates a deployment of the API on a stage, paced by
// CreateDeployment's quota and retried when throttled.
func (c *Client) Deploy(ctx context.Context, id string, t APIType, stage, description string, onWait OnWait) error {
	return c.write(ctx, deployment, onWait, func() error { return c.createDeployment(ctx, id, t, stage, description) })
}
