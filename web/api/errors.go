// Package api holds Keyplane's JSON endpoints: the data plane under /v1,
// which platform gateways and services call to verify keys on every
// request.
package api

import (
	"encoding/json"

	"github.com/labstack/echo/v4"
)

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// WriteError writes the error shape every JSON endpoint shares:
// {"error": {"code": "...", "message": "..."}}.
func WriteError(c echo.Context, status int, code, msg string) error {
	var body errorBody
	body.Error.Code, body.Error.Message = code, msg
	b, _ := json.Marshal(body)
	return c.JSONBlob(status, b)
}
