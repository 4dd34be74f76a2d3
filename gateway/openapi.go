package gateway

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPI is the OpenAPI 3.0 description of every route the gateway serves;
// TestOpenAPIMatchesRoutes keeps it in step with Routes.
//
//go:embed openapi.yaml
var openAPI []byte

// serveOpenAPI handles GET /openapi.yaml.
func serveOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", openAPI)
}
