"""What the benchmark scripts share: the cluster platform and the
server-and-clients deployment of bench/scale_node.c."""


def cluster_platform(path, hosts):
    """Write a cluster of `hosts` nodes, node-0 .. node-(hosts-1): 1 Gf,
    1 Gbps / 50 µs links, a 100 Gbps backbone."""
    with open(path, "w") as f:
        f.write("<?xml version='1.0'?>\n<!DOCTYPE platform SYSTEM \"https://simgrid.org/simgrid.dtd\">\n"
                "<platform version=\"4.1\">\n  <zone id=\"world\" routing=\"Full\">\n"
                "    <cluster id=\"c\" prefix=\"node-\" suffix=\"\" radical=\"0-%d\" speed=\"1Gf\" core=\"1\"\n"
                "             bw=\"1Gbps\" lat=\"50us\" bb_bw=\"100Gbps\" bb_lat=\"10us\"\n"
                "             loopback_bw=\"10GBps\" loopback_lat=\"0us\"/>\n"
                "  </zone>\n</platform>\n" % (hosts - 1))
    return path


def server_and_clients(path, node, clients, rounds=1):
    """Write a deployment: a scale_node server on node-0 for `clients`
    clients, one client on each of node-1 .. node-`clients`, each making
    `rounds` exchanges one virtual second apart."""
    with open(path, "w") as f:
        f.write("<?xml version='1.0'?>\n<platform version=\"4.1\">\n")
        f.write('  <actor host="node-0" function="%s"><argument value="server"/><argument value="7000"/>'
                '<argument value="%d"/></actor>\n' % (node, clients))
        for i in range(1, clients + 1):
            f.write('  <actor host="node-%d" function="%s" start_time="0.001"><argument value="client"/>'
                    '<argument value="node-0"/><argument value="7000"/><argument value="%d"/></actor>\n'
                    % (i, node, rounds))
        f.write("</platform>\n")
    return path
