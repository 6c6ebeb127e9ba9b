# syntax=docker/dockerfile:1
#
# The RailRush gateway: the official nginx image, the project's nginx templates and the web
# app, run as the unprivileged nginx user.
#
#   docker build -f gateway.Dockerfile -t railrush/gateway .
#
# At start deploy/gateway/entrypoint.sh renders nginx/*.template with nginx/render.sh (the
# renderer of the local stack and the tests too; envsubst of AUTH_UPSTREAM ..
# NOTIFICATION_UPSTREAM as host:port, WEB_ROOT, NGINX_ERROR_LOG, NGINX_ACCESS_LOG,
# GATEWAY_PORT, the trusted proxies TRUSTED_PROXIES (empty: none), and the rate limits of the profile
# nginx/profiles/$GATEWAY_PROFILE.env) into $NGINX_PREFIX and runs nginx in the foreground
# on port 8080.

ARG NODE_VERSION=20
ARG NGINX_VERSION=1.27

# The web app: built with npm when web/ has a package.json, otherwise copied as plain files.
FROM node:${NODE_VERSION}-bookworm-slim AS web
WORKDIR /src/web
COPY web/ ./
RUN mkdir -p /out \
 && if [ -f package.json ]; then \
      npm ci --no-audit --no-fund && npm run build && cp -R dist/. /out/; \
    else \
      cp -R . /out/; \
    fi

FROM nginx:${NGINX_VERSION}-alpine AS gateway
# The image's own site and default server are not used.
RUN rm -rf /usr/share/nginx/html/* /etc/nginx/conf.d/default.conf
# render.sh, the templates and profiles/, together: render.sh finds the others beside it.
COPY nginx/ /etc/nginx/railrush-templates/
COPY deploy/gateway/entrypoint.sh /usr/local/bin/railrush-gateway
RUN chmod 0755 /usr/local/bin/railrush-gateway
COPY --from=web /out/ /usr/share/nginx/html/
ENV WEB_ROOT=/usr/share/nginx/html \
    NGINX_PREFIX=/tmp/nginx \
    NGINX_ERROR_LOG=/dev/stderr \
    NGINX_ACCESS_LOG=/dev/stdout \
    GATEWAY_PORT=8080 \
    GATEWAY_PROFILE=default \
    TRUSTED_PROXIES="" \
    AUTH_UPSTREAM=auth-service:8081 \
    TRAIN_UPSTREAM=train-service:8082 \
    BOOKING_UPSTREAM=booking-service:8083 \
    PAYMENT_UPSTREAM=payment-service:8084 \
    NOTIFICATION_UPSTREAM=notification-service:8085
# 101 is the nginx user of the official image.
USER 101:101
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/usr/local/bin/railrush-gateway"]
