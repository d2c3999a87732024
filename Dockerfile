# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
COPY --from=build /install /usr/local
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin siptrunk
USER 10001
ENTRYPOINT ["siptrunk-operator"]
CMD ["run", "--liveness=http://0.0.0.0:8080/healthz"]
