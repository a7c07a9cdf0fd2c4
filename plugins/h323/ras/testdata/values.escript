#!/usr/bin/env escript
%% -*- erlang -*-
%%
%% The Erlang side of erlang_test.go. It runs in a directory where
%% H225-RAS.asn was compiled with erlc -bper, and:
%%   - encodes every value of values/0 as a RasMessage and prints
%%     "enc NAME HEX";
%%   - reads the file named as its argument, lines "NAME HEX" written by the
%%     Go codec, decodes each and prints "dec NAME ok" when the result is the
%%     same value, else "dec NAME mismatch ...".
%% The values are those of values_test.go, under the same names.

-mode(compile).
-include("H225-RAS.hrl").

main([GoFile]) ->
    code:add_patha("."),
    io:format("rule ~p~n", ['H225-RAS':encoding_rule()]),
    Values = values(),
    lists:foreach(
      fun({Name, V}) ->
              case catch 'H225-RAS':encode('RasMessage', V) of
                  {ok, Bin} -> io:format("enc ~s ~s~n", [Name, hex(Bin)]);
                  Err -> io:format("enc ~s error ~0p~n", [Name, Err])
              end
      end, Values),
    {ok, Text} = file:read_file(GoFile),
    Lines = [L || L <- binary:split(Text, <<"\n">>, [global]), L =/= <<>>],
    lists:foreach(
      fun(Line) ->
              [NameB, HexB] = binary:split(Line, <<" ">>),
              Name = binary_to_list(NameB),
              Want = proplists:get_value(Name, Values),
              case catch 'H225-RAS':decode('RasMessage', binary:decode_hex(HexB)) of
                  {ok, Want} -> io:format("dec ~s ok~n", [Name]);
                  Other -> io:format("dec ~s mismatch ~0p~n", [Name, Other])
              end
      end, Lines).

hex(Bin) -> string:lowercase(binary_to_list(binary:encode_hex(Bin))).

ip(A, B, C, D, Port) ->
    {ipAddress, #'TransportAddress_ipAddress'{ip = <<A, B, C, D>>, port = Port}}.

v7() -> {0, 0, 8, 2250, 0, 7}.
conf() -> <<16#11, 16#22, 16#33, 16#44, 16#55, 16#66, 16#77, 16#88,
            16#99, 16#aa, 16#bb, 16#cc, 16#dd, 16#ee, 16#ff, 16#00>>.
call() -> <<16#de, 16#ad, 16#be, 16#ef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12>>.
callid() -> #'CallIdentifier'{guid = call()}.
vendor() -> #'H221NonStandard'{t35CountryCode = 181, t35Extension = 0, manufacturerCode = 29281}.
terminal() ->
    #'EndpointType'{vendor = #'VendorIdentifier'{vendor = vendor(),
                                                 productId = <<"rally-sim">>,
                                                 versionId = <<"1.0">>},
                    terminal = #'TerminalInfo'{}, mc = false, undefinedNode = false}.
bare_terminal() -> #'EndpointType'{terminal = #'TerminalInfo'{}, mc = false, undefinedNode = false}.
paris() -> #'AlternateGK'{rasAddress = ip(127, 0, 0, 3, 1719), gatekeeperIdentifier = "paris-gk",
                          needToRegister = true, priority = 1}.
london() -> #'AlternateGK'{rasAddress = ip(127, 0, 0, 1, 1719), gatekeeperIdentifier = "london-gk",
                           needToRegister = true, priority = 0}.
null(Alt) -> {Alt, 'NULL'}.
private(Digits) ->
    {privateNumber, #'PrivatePartyNumber'{privateTypeOfNumber = null(localNumber),
                                          privateNumberDigits = Digits}}.

values() ->
    [{"grq", {gatekeeperRequest, #'GatekeeperRequest'{
        requestSeqNum = 1, protocolIdentifier = v7(),
        rasAddress = ip(127, 0, 0, 2, 1719), endpointType = terminal(),
        endpointAlias = [{'h323-ID', "alice"}, {dialledDigits, "2001"}],
        algorithmOIDs = [{1, 2, 840, 113549, 2, 5}],
        supportsAltGK = 'NULL', supportsAssignedGK = false}}},
     {"gcf", {gatekeeperConfirm, #'GatekeeperConfirm'{
        requestSeqNum = 1, protocolIdentifier = v7(),
        gatekeeperIdentifier = "london-gk", rasAddress = ip(127, 0, 0, 1, 1719),
        alternateGatekeeper = [paris()]}}},
     {"grj", {gatekeeperReject, #'GatekeeperReject'{
        requestSeqNum = 2, protocolIdentifier = v7(),
        gatekeeperIdentifier = "london-gk", rejectReason = null(terminalExcluded),
        altGKInfo = #'AltGKInfo'{alternateGatekeeper = [paris()], altGKisPermanent = false}}}},
     {"rrq", {registrationRequest, #'RegistrationRequest'{
        requestSeqNum = 3, protocolIdentifier = v7(), discoveryComplete = true,
        callSignalAddress = [ip(127, 0, 0, 2, 1720)], rasAddress = [ip(127, 0, 0, 2, 1719)],
        terminalType = terminal(),
        terminalAlias = [{'h323-ID', "alice"}, {dialledDigits, "2001"},
                         {'url-ID', "h323:alice@voip.example"}, {'email-ID', "alice@voip.example"}],
        gatekeeperIdentifier = "london-gk",
        endpointVendor = #'VendorIdentifier'{vendor = vendor(), productId = <<"rally-sim">>,
                                             versionId = <<"1.0">>},
        timeToLive = 300, keepAlive = false, willSupplyUUIEs = false,
        maintainConnection = false, supportsAltGK = 'NULL', multipleCalls = false,
        supportsAssignedGK = false, language = ["en", "fr"]}}},
     {"rrq-keepalive", {registrationRequest, #'RegistrationRequest'{
        requestSeqNum = 4, protocolIdentifier = v7(), discoveryComplete = false,
        callSignalAddress = [ip(127, 0, 0, 2, 1720)], rasAddress = [ip(127, 0, 0, 2, 1719)],
        terminalType = bare_terminal(), gatekeeperIdentifier = "london-gk",
        endpointVendor = #'VendorIdentifier'{vendor = vendor()},
        timeToLive = 300, keepAlive = true, endpointIdentifier = "ep-0001",
        willSupplyUUIEs = false, maintainConnection = false, supportsAssignedGK = false}}},
     {"rrq-gateway", {registrationRequest, #'RegistrationRequest'{
        requestSeqNum = 5, protocolIdentifier = {0, 0, 8, 2250, 0, 4},
        nonStandardData = #'NonStandardParameter'{
                             nonStandardIdentifier = {object, {1, 3, 6, 1, 4, 1, 99999, 1}},
                             data = <<1, 2, 3>>},
        discoveryComplete = false,
        callSignalAddress = [{ip6Address, #'TransportAddress_ip6Address'{
                                             ip = <<16#20, 16#01, 16#0d, 16#b8, 0:88, 2>>,
                                             port = 1720}},
                             {nsap, <<16#47, 0, 5>>}],
        rasAddress = [ip(127, 0, 0, 2, 1719)],
        terminalType = #'EndpointType'{
                          gateway = #'GatewayInfo'{protocol = [
                              {voice, #'H310Caps'{supportedPrefixes = [
                                  #'SupportedPrefix'{prefix = {dialledDigits, "0#"}}]}},
                              {h323, #'H310Caps'{
                                  dataRatesSupported = [#'DataRate'{channelRate = 640, channelMultiplier = 2}],
                                  supportedPrefixes = [#'SupportedPrefix'{prefix = {dialledDigits, "9"}}]}},
                              {sip, #'SIPCaps'{}}]},
                          mc = false, undefinedNode = false,
                          set = <<16#80, 0, 0, 1>>,
                          supportedTunnelledProtocols = [#'TunnelledProtocol'{
                              id = {tunnelledProtocolAlternateID,
                                    #'TunnelledProtocolAlternateIdentifier'{protocolType = "qsig",
                                                                             protocolVariant = "v2"}},
                              subIdentifier = "x"}]},
        terminalAlias = [{partyNumber, {e164Number, #'PublicPartyNumber'{
                                                      publicTypeOfNumber = null(internationalNumber),
                                                      publicNumberDigits = "441234567"}}},
                         {transportID, ip(127, 0, 0, 2, 1720)}],
        endpointVendor = #'VendorIdentifier'{vendor = vendor(),
                                             enterpriseNumber = {1, 3, 6, 1, 4, 1, 99999}},
        keepAlive = false, willSupplyUUIEs = false, maintainConnection = false,
        terminalAliasPattern = [{wildcard, {dialledDigits, "44*"}}],
        restart = 'NULL', supportsAssignedGK = true,
        transportQOS = null(endpointControlled)}}},
     {"rcf", {registrationConfirm, #'RegistrationConfirm'{
        requestSeqNum = 3, protocolIdentifier = v7(), callSignalAddress = [],
        terminalAlias = [{'h323-ID', "alice"}, {dialledDigits, "2001"}],
        gatekeeperIdentifier = "london-gk", endpointIdentifier = "ep-0001",
        alternateGatekeeper = [paris()], timeToLive = 300, willRespondToIRR = false,
        preGrantedARQ = #'RegistrationConfirm_preGrantedARQ'{
                           makeCall = true, useGKCallSignalAddressToMakeCall = false,
                           answerCall = true, useGKCallSignalAddressToAnswer = false,
                           irrFrequencyInCall = 60},
        maintainConnection = false}}},
     {"rrj", {registrationReject, #'RegistrationReject'{
        requestSeqNum = 3, protocolIdentifier = v7(),
        rejectReason = null(resourceUnavailable), gatekeeperIdentifier = "paris-gk",
        altGKInfo = #'AltGKInfo'{alternateGatekeeper = [london()], altGKisPermanent = false}}}},
     {"rrj-duplicate", {registrationReject, #'RegistrationReject'{
        requestSeqNum = 9, protocolIdentifier = v7(),
        rejectReason = {duplicateAlias, [{dialledDigits, "2001"}]}}}},
     {"rrj-invalid-aliases", {registrationReject, #'RegistrationReject'{
        requestSeqNum = 10, protocolIdentifier = v7(),
        rejectReason = {invalidTerminalAliases,
                        #'RegistrationRejectReason_invalidTerminalAliases'{
                           terminalAlias = [{'h323-ID', "bob"}],
                           terminalAliasPattern = [{range, #'AddressPattern_range'{
                                                              startOfRange = private("100"),
                                                              endOfRange = private("199")}}]}}}}},
     {"urq", {unregistrationRequest, #'UnregistrationRequest'{
        requestSeqNum = 6, callSignalAddress = [ip(127, 0, 0, 2, 1720)],
        endpointAlias = [{'h323-ID', "alice"}], endpointIdentifier = "ep-0001",
        gatekeeperIdentifier = "paris-gk", reason = null(maintenance),
        alternateGatekeeper = [london()]}}},
     {"urq-endpoint", {unregistrationRequest, #'UnregistrationRequest'{
        requestSeqNum = 7, callSignalAddress = [ip(127, 0, 0, 2, 1720)],
        endpointIdentifier = "ep-0001", reason = null(undefinedReason)}}},
     {"ucf", {unregistrationConfirm, #'UnregistrationConfirm'{requestSeqNum = 6}}},
     {"urj", {unregistrationReject, #'UnregistrationReject'{
        requestSeqNum = 7, rejectReason = null(notCurrentlyRegistered)}}},
     {"arq", {admissionRequest, #'AdmissionRequest'{
        requestSeqNum = 8, callType = null(pointToPoint), callModel = null(direct),
        endpointIdentifier = "ep-0001", destinationInfo = [{dialledDigits, "2002"}],
        srcInfo = [{'h323-ID', "alice"}, {dialledDigits, "2001"}],
        srcCallSignalAddress = ip(127, 0, 0, 2, 1720), bandWidth = 1280,
        callReferenceValue = 42, conferenceID = conf(), activeMC = false, answerCall = false,
        canMapAlias = true, callIdentifier = callid(), gatekeeperIdentifier = "london-gk",
        willSupplyUUIEs = false, canMapSrcAlias = false}}},
     {"arq-exotic", {admissionRequest, #'AdmissionRequest'{
        requestSeqNum = 11, callType = null(nToN), endpointIdentifier = "ep-0002",
        destCallSignalAddress = {ipSourceRoute, #'TransportAddress_ipSourceRoute'{
                                                   ip = <<10, 0, 0, 1>>, port = 1720,
                                                   route = [<<10, 0, 0, 254>>],
                                                   routing = null(loose)}},
        destExtraCallInfo = [{partyNumber, {dataPartyNumber, "12"}}],
        srcInfo = [{'h323-ID', "bob"}],
        srcCallSignalAddress = {ipxAddress, #'TransportAddress_ipxAddress'{
                                               node = <<1, 2, 3, 4, 5, 6>>, netnum = <<0, 0, 0, 9>>,
                                               port = <<16#12, 16#34>>}},
        bandWidth = 0, callReferenceValue = 65535,
        callServices = #'QseriesOptions'{q932Full = true, q951Full = false, q952Full = false,
                                         q953Full = false, q955Full = false, q956Full = false,
                                         q957Full = false,
                                         q954Info = #'Q954Details'{conferenceCalling = false,
                                                                   threePartyService = true}},
        conferenceID = conf(), activeMC = true, answerCall = true,
        canMapAlias = false, callIdentifier = callid(), transportQOS = null(noControl),
        willSupplyUUIEs = true, callLinkage = #'CallLinkage'{globalCallId = call()},
        gatewayDataRate = #'DataRate'{channelRate = 4294967295}, canMapSrcAlias = true}}},
     {"acf", {admissionConfirm, #'AdmissionConfirm'{
        requestSeqNum = 8, bandWidth = 1280, callModel = null(direct),
        destCallSignalAddress = ip(127, 0, 0, 4, 1720), irrFrequency = 120,
        destinationInfo = [{dialledDigits, "2002"}], destinationType = bare_terminal(),
        willRespondToIRR = false,
        uuiesRequested = #'UUIEsRequested'{setup = false, callProceeding = false, connect = false,
                                           alerting = false, information = false,
                                           releaseComplete = true, facility = false,
                                           progress = false, empty = false, status = true,
                                           statusInquiry = false, setupAcknowledge = false,
                                           notify = false}}}},
     {"arj", {admissionReject, #'AdmissionReject'{
        requestSeqNum = 9, rejectReason = null(calledPartyNotRegistered)}}},
     {"arj-scn", {admissionReject, #'AdmissionReject'{
        requestSeqNum = 12,
        rejectReason = {routeCallToSCN, [{e164Number, #'PublicPartyNumber'{
                                                         publicTypeOfNumber = null(nationalNumber),
                                                         publicNumberDigits = "0123456789"}}]},
        callSignalAddress = [{netBios, <<"RALLY", 0:88>>}]}}},
     {"brq", {bandwidthRequest, #'BandwidthRequest'{
        requestSeqNum = 10, endpointIdentifier = "ep-0001", conferenceID = conf(),
        callReferenceValue = 42, callType = null(pointToPoint), bandWidth = 640,
        callIdentifier = callid(), answeredCall = false}}},
     {"bcf", {bandwidthConfirm, #'BandwidthConfirm'{requestSeqNum = 10, bandWidth = 640}}},
     {"brj", {bandwidthReject, #'BandwidthReject'{
        requestSeqNum = 11, rejectReason = null(insufficientResources), allowedBandWidth = 320}}},
     {"drq", {disengageRequest, #'DisengageRequest'{
        requestSeqNum = 12, endpointIdentifier = "ep-0001", conferenceID = conf(),
        callReferenceValue = 42, disengageReason = null(normalDrop),
        callIdentifier = callid(), answeredCall = false,
        terminationCause = {releaseCompleteReason, null(undefinedReason)}}}},
     {"dcf", {disengageConfirm, #'DisengageConfirm'{requestSeqNum = 12}}},
     {"drj", {disengageReject, #'DisengageReject'{
        requestSeqNum = 13, rejectReason = null(notRegistered)}}},
     {"lrq", {locationRequest, #'LocationRequest'{
        requestSeqNum = 14, destinationInfo = [{dialledDigits, "3001"}],
        replyAddress = ip(127, 0, 0, 1, 1719), sourceInfo = [{'h323-ID', "london-gk"}],
        canMapAlias = false, gatekeeperIdentifier = "london-gk", hopCount = 3,
        callIdentifier = callid(), bandWidth = 1280, canMapSrcAlias = false}}},
     {"lcf", {locationConfirm, #'LocationConfirm'{
        requestSeqNum = 14, callSignalAddress = ip(127, 0, 0, 5, 1720),
        rasAddress = ip(127, 0, 0, 5, 1719), destinationInfo = [{dialledDigits, "3001"}],
        multipleCalls = true}}},
     {"lrj", {locationReject, #'LocationReject'{
        requestSeqNum = 15, rejectReason = null(requestDenied)}}},
     {"irq", {infoRequest, #'InfoRequest'{
        requestSeqNum = 16, callReferenceValue = 0, replyAddress = ip(127, 0, 0, 1, 1719),
        callIdentifier = #'CallIdentifier'{guid = <<0:128>>}}}},
     {"irr", {infoRequestResponse, #'InfoRequestResponse'{
        requestSeqNum = 16, endpointType = bare_terminal(), endpointIdentifier = "ep-0001",
        rasAddress = ip(127, 0, 0, 2, 1719), callSignalAddress = [ip(127, 0, 0, 2, 1720)],
        endpointAlias = [{'h323-ID', "alice"}],
        perCallInfo = [#'InfoRequestResponse_perCallInfo_SEQOF'{
                          callReferenceValue = 42, conferenceID = conf(), originator = true,
                          audio = [#'RTPSession'{
                                      rtpAddress = #'TransportChannelInfo'{
                                                      sendAddress = ip(127, 0, 0, 2, 5004),
                                                      recvAddress = ip(127, 0, 0, 4, 5004)},
                                      rtcpAddress = #'TransportChannelInfo'{
                                                       sendAddress = ip(127, 0, 0, 2, 5005)},
                                      cname = "alice host", ssrc = 12345, sessionId = 1,
                                      associatedSessionIds = []}],
                          h245 = #'TransportChannelInfo'{},
                          callSignalling = #'TransportChannelInfo'{recvAddress = ip(127, 0, 0, 4, 1720)},
                          callType = null(pointToPoint), bandWidth = 640, callModel = null(direct),
                          callIdentifier = callid(), substituteConfIDs = asn1_NOVALUE}],
        needResponse = true, irrStatus = null(complete), unsolicited = false}}},
     {"iack", {infoRequestAck, #'InfoRequestAck'{requestSeqNum = 16}}},
     {"inak", {infoRequestNak, #'InfoRequestNak'{
        requestSeqNum = 16, nakReason = null(notRegistered),
        altGKInfo = #'AltGKInfo'{alternateGatekeeper = [london()], altGKisPermanent = true}}}},
     {"nsm", {nonStandardMessage, #'NonStandardMessage'{
        requestSeqNum = 17,
        nonStandardData = #'NonStandardParameter'{nonStandardIdentifier = {h221NonStandard, vendor()},
                                                  data = <<"hello">>}}}},
     {"nsm-long", {nonStandardMessage, #'NonStandardMessage'{
        requestSeqNum = 65535,
        nonStandardData = #'NonStandardParameter'{nonStandardIdentifier = {object, {2, 999, 1}},
                                                  data = binary:copy(<<16#a5>>, 200)}}}},
     {"urq-long-aliases", {unregistrationRequest, #'UnregistrationRequest'{
        requestSeqNum = 20, callSignalAddress = [],
        endpointAlias = [{'h323-ID', [$Z, $o, 16#eb, $\s, {0, 0, 16#67, 16#71}, {0, 0, 16#4e, 16#ac}]},
                         {dialledDigits, lists:sublist(lists:append(lists:duplicate(10, "0123456789#*,")), 128)},
                         {'url-ID', "h323:" ++ lists:duplicate(295, $a)}]}}},
     {"xrs", {unknownMessageResponse, #'UnknownMessageResponse'{
        requestSeqNum = 18, messageNotUnderstood = <<16#7e, 0, 1>>}}},
     {"rip", {requestInProgress, #'RequestInProgress'{requestSeqNum = 19, delay = 5000}}}].
