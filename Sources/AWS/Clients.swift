/// The AWS clients of one session, built the one way both users build them: one transport, one deadline, one
/// credential chain, IMDS first (the region comes from it when the environment does not name one), then EC2.
public struct AWSClients {
    public let imds: IMDSClient
    public let credentials: CredentialChain
    public let ec2: EC2Client

    public init(environment: [String: String], deadline: Deadline, transport: any HTTPTransport, clock: any AWSClock,
                random: any AWSRandom) throws(AWSError) {
        let imds = IMDSClient.fromEnvironment(environment, transport: transport, clock: clock, deadline: deadline)
        let region = try EC2Client.resolveRegion(environment: environment, imds: imds)
        let chain = CredentialChain(environment: environment, transport: transport, clock: clock, random: random,
                                    deadline: deadline, imds: imds, region: region)
        self.imds = imds
        credentials = chain
        ec2 = EC2Client(region: region, endpoint: EC2Client.resolveEndpoint(environment: environment, region: region),
                        transport: transport,
                        credentials: { () throws(AWSError) -> AWSCredentials in try chain.credentials() },
                        clock: clock, random: random, retryPolicy: RetryPolicy.resolve(environment: environment),
                        deadline: deadline)
    }
}
