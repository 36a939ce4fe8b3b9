package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/registry"
)

func toUser(u registry.User) gen.User {
	return gen.User{Name: u.Name, Role: gen.Role(u.Role), CreatedAt: u.CreatedAt, RevokedAt: u.RevokedAt}
}

// ListUsers implements GET /users.
func (s *Server) ListUsers(ctx context.Context, _ gen.ListUsersRequestObject) (gen.ListUsersResponseObject, error) {
	users, err := s.store.Users(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]gen.User, len(users))
	for i, u := range users {
		out[i] = toUser(u)
	}
	e := metaFrom(ctx, http.StatusOK)
	resp := gen.ListUsers200JSONResponse{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url}
	resp.Data.Users = out
	return resp, nil
}

// CreateUser implements POST /users. The key is in the response and never
// in a log.
func (s *Server) CreateUser(ctx context.Context, req gen.CreateUserRequestObject) (gen.CreateUserResponseObject, error) {
	if registry.ReservedUserName(req.Body.Name) {
		return nil, problemError(http.StatusUnprocessableEntity, typeInvalid,
			fmt.Sprintf("user name %q is reserved: the audit trail records changes no user made under it", req.Body.Name), "body", "name")
	}
	u, key, err := s.registry.CreateUser(ctx, req.Body.Name, registry.Role(req.Body.Role))
	if err != nil {
		return nil, at(err, "body", "name")
	}
	s.log.Info("user created", slog.String("user", u.Name), slog.String("role", string(u.Role)), slog.String("by", userFrom(ctx)))
	e := metaFrom(ctx, http.StatusCreated)
	resp := gen.CreateUser201JSONResponse{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url}
	resp.Data.User, resp.Data.ApiKey = toUser(u), key
	return resp, nil
}

// RevokeUser implements DELETE /users/{user-name}.
func (s *Server) RevokeUser(ctx context.Context, req gen.RevokeUserRequestObject) (gen.RevokeUserResponseObject, error) {
	u, err := s.store.RevokeUser(ctx, req.UserName)
	if err != nil {
		return nil, err
	}
	s.log.Info("user revoked", slog.String("user", u.Name), slog.String("by", userFrom(ctx)))
	e := metaFrom(ctx, http.StatusOK)
	return gen.RevokeUser200JSONResponse{Message: e.message, Method: e.method, StatusCode: e.status, Timestamp: e.timestamp, Url: e.url, Data: toUser(u)}, nil
}
