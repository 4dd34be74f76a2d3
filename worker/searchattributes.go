package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/courier-mq/courier/contract"
)

// SearchAttributes are the custom search attributes MessageWorkflow upserts,
// with their types. They must exist on the namespace before a workflow runs.
func SearchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		contract.SearchAttrStatus.GetName():   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		contract.SearchAttrTopic.GetName():    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		contract.SearchAttrProducer.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}

// EnsureSearchAttributes registers SearchAttributes on namespace. Attributes
// that already exist are left alone, so it is safe at every start.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	return RegisterSearchAttributes(ctx, c.OperatorService(), namespace, SearchAttributes())
}

// RegisterSearchAttributes adds the attributes of attrs that namespace lacks
// and waits until the server lists them. One already registered with another
// type is an error: a search attribute's type cannot change.
func RegisterSearchAttributes(ctx context.Context, operator operatorservice.OperatorServiceClient, namespace string, attrs map[string]enumspb.IndexedValueType) error {
	existing, err := operator.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of %s: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range attrs {
		if got, ok := existing.GetCustomAttributes()[name]; ok {
			if got != typ {
				return fmt.Errorf("search attribute %s on %s is %s, want %s", name, namespace, got, typ)
			}
			continue
		}
		missing[name] = typ
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = operator.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("add search attributes to %s: %w", namespace, err)
	}
	// Another process may have added them at the same moment, and the server
	// may take a moment to list them: wait until it does, so that the first
	// workflow started after this returns can use them.
	for {
		existing, err := operator.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
		if err != nil {
			return fmt.Errorf("list search attributes of %s: %w", namespace, err)
		}
		complete := true
		for name := range missing {
			if _, ok := existing.GetCustomAttributes()[name]; !ok {
				complete = false
			}
		}
		if complete {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("search attributes %v not visible on %s: %w", missing, namespace, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
