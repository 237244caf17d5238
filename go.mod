module github.com/requiretls/go-requiretls

go 1.26.0
