package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
	oapimiddleware "github.com/oapi-codegen/echo-middleware"

	"github.com/tagifai/tagifai/registry"
	"github.com/tagifai/tagifai/serving"
)

// requiredRoleExtension names, in openapi.yaml, the least role an operation
// needs.
const requiredRoleExtension = "x-required-role"

// Authenticator resolves API keys to users. *registry.Registry is one.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (registry.User, error)
}

// userKey is the context key of the authenticated user.
type userKey struct{}

// userFrom returns the user who made the request, or "" for an anonymous
// one.
func userFrom(ctx context.Context) string {
	u, _ := ctx.Value(userKey{}).(registry.User)
	return u.Name
}

// requiredRole reads an operation's x-required-role.
func requiredRole(op *openapi3.Operation) (registry.Role, error) {
	v, ok := op.Extensions[requiredRoleExtension]
	if !ok {
		return "", nil
	}
	s, _ := v.(string)
	if role := registry.Role(s); role.Valid() {
		return role, nil
	}
	return "", fmt.Errorf("server: operation %s: %s %v is not a role", op.OperationID, requiredRoleExtension, v)
}

// optionalAuth lists the roles that --require-auth turns on: without it,
// operations needing only these are open to anonymous callers.
var optionalAuth = map[registry.Role]bool{registry.RolePredictor: true}

// authenticate is the validator's authentication hook: it checks the
// bearer key of an operation that declares a security requirement against
// the role the operation needs, and puts the user in the request's context.
// Keys are never logged or echoed.
func authenticate(auth Authenticator, requireAuth bool) openapi3filter.AuthenticationFunc {
	return func(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
		if c := oapimiddleware.GetEchoContext(ctx); c != nil && c.Get(echoUserKey) != nil {
			return nil // authenticated already, before the body was read (authOnly)
		}
		op := in.RequestValidationInput.Route.Operation
		need, err := requiredRole(op)
		if err != nil {
			return err
		}
		if len(in.RequestValidationInput.Request.Header.Values(echo.HeaderAuthorization)) > 1 {
			return authError(http.StatusUnauthorized, typeUnauthorized, "send one Authorization header, not several")
		}
		header := in.RequestValidationInput.Request.Header.Get(echo.HeaderAuthorization)
		if header == "" && !requireAuth && optionalAuth[need] {
			return nil
		}
		if header == "" {
			return authError(http.StatusUnauthorized, typeUnauthorized, `an API key is required: send "Authorization: Bearer <key>"`)
		}
		scheme, key, ok := strings.Cut(header, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
			return authError(http.StatusUnauthorized, typeUnauthorized, `the Authorization header must be "Bearer <key>"`)
		}
		if auth == nil {
			return authError(http.StatusUnauthorized, typeUnauthorized, "this server has no users")
		}
		user, err := auth.Authenticate(ctx, strings.TrimSpace(key))
		if registry.ErrorCode(err) == registry.ENOTFOUND {
			return authError(http.StatusUnauthorized, typeUnauthorized, "the API key is unknown or revoked")
		}
		if err != nil {
			return fmt.Errorf("server: authenticate: %w", err)
		}
		// Without --require-auth, an operation open to anyone is open to
		// any key too: a key of a lesser role is never worse than none.
		if need != "" && !user.Role.Allows(need) && (requireAuth || !optionalAuth[need]) {
			return authError(http.StatusForbidden, typeForbidden, fmt.Sprintf("this needs the %s role; the key has the %s role", need, user.Role))
		}
		if c := oapimiddleware.GetEchoContext(ctx); c != nil {
			c.Set(echoUserKey, user)
		}
		return nil
	}
}

// maxRoutingKey bounds the X-Routing-Key header that names an anonymous
// caller; a longer one is ignored.
const maxRoutingKey = 128

// echoUserKey is where authenticate leaves the user in Echo's context.
const echoUserKey = "tagifai.user"

// withUser moves the authenticated user from Echo's context into the
// request's, where the strict handlers can see it, with the actor the
// registry records in its audit trail ("anonymous" without a key) and the
// caller a canary routes by (the user, else the X-Routing-Key header, else
// the client's address). It runs after the validator, which may still
// replace the request's body while it works.
func withUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		ctx := r.Context()
		actor := registry.Actor{User: registry.ActorAnonymous, RequestID: c.Response().Header().Get(echo.HeaderXRequestID)}
		caller := ""
		if u, ok := c.Get(echoUserKey).(registry.User); ok {
			ctx = context.WithValue(ctx, userKey{}, u)
			actor.User, caller = u.Name, "user:"+u.Name
		} else if k := r.Header.Get("X-Routing-Key"); k != "" && len(k) <= maxRoutingKey {
			caller = "key:" + k
		} else {
			caller = "addr:" + c.RealIP()
		}
		ctx = registry.WithActor(ctx, actor)
		ctx = serving.WithCaller(ctx, caller)
		c.SetRequest(r.WithContext(ctx))
		return next(c)
	}
}

// authError is how the authentication hook reports a refusal: the
// validator passes an *echo.HTTPError through, and the error handler
// unwraps our *Error from it.
func authError(status int, typ, msg string) error {
	return &echo.HTTPError{Code: status, Internal: problemError(status, typ, msg, "header", echo.HeaderAuthorization)}
}

// authOnly authenticates requests the way the validator would, for a server
// that runs without the validator: turning validation off never turns
// authentication off.
func authOnly(ops operations, auth openapi3filter.AuthenticationFunc) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			op := ops.find(c)
			if op == nil || op.Security == nil || len(*op.Security) == 0 {
				return next(c)
			}
			// The validator's own key, which GetEchoContext reads.
			//lint:ignore SA1029 the key is echo-middleware's, not ours to choose
			ctx := context.WithValue(c.Request().Context(), oapimiddleware.EchoContextKey, c)
			in := &openapi3filter.AuthenticationInput{RequestValidationInput: &openapi3filter.RequestValidationInput{
				Request: c.Request(), Route: &routers.Route{Operation: op},
			}}
			if err := auth(ctx, in); err != nil {
				var he *echo.HTTPError
				if errors.As(err, &he) && he.Internal != nil {
					return he.Internal
				}
				return err
			}
			return next(c)
		}
	}
}
