# The compose backend tests' image: the static podsvc and nothing else.
FROM scratch
COPY podsvc /podsvc
ENTRYPOINT ["/podsvc"]
