package apigw

import "github.com/aws/aws-sdk-go-v2/aws"

// every reads a listing to its last page: page reads the page at token
// (nil for the first) and returns its items and the next token, which is
// empty on the last page. apigateway calls it position, apigatewayv2
// nextToken; both page at AWS's sizes (docs/apigateway-rules.md#routing), so
// a caller that reads one page misses what is on the others.
func every[T any](page func(token *string) ([]T, *string, error)) ([]T, error) {
	var out []T
	var token *string
	for {
		items, next, err := page(token)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if aws.ToString(next) == "" {
			return out, nil
		}
		token = next
	}
}
