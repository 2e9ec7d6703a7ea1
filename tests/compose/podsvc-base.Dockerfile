# The partition tests' image: podsvc on the reference cluster's base image,
# which has sh, curl and iptables (c:partition() runs iptables inside).
FROM mpod-lua/base:bookworm
COPY podsvc /podsvc
ENTRYPOINT ["/podsvc"]
