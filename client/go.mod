module github.com/courier-mq/courier/client

go 1.26.8
