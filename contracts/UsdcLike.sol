// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// A token shaped like mainnet USDC's freezing for the indexer's tests:
/// ERC-20 `Transfer` events for every movement, and the holder of a freeze
/// in the one indexed topic of `Blacklisted` and `UnBlacklisted`.
contract UsdcLike {
    uint8 public constant decimals = 6;
    string public constant symbol = "USDL";
    address public blacklister;
    mapping(address => uint256) public balanceOf;
    mapping(address => bool) public isBlacklisted;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Blacklisted(address indexed _account);
    event UnBlacklisted(address indexed _account);

    constructor(uint256 supply) {
        blacklister = msg.sender;
        balanceOf[msg.sender] = supply;
        emit Transfer(address(0), msg.sender, supply);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        require(!isBlacklisted[msg.sender] && !isBlacklisted[to], "frozen");
        require(balanceOf[msg.sender] >= value, "balance");
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
        emit Transfer(msg.sender, to, value);
        return true;
    }

    function blacklist(address account) external {
        require(msg.sender == blacklister, "blacklister");
        isBlacklisted[account] = true;
        emit Blacklisted(account);
    }

    function unBlacklist(address account) external {
        require(msg.sender == blacklister, "blacklister");
        isBlacklisted[account] = false;
        emit UnBlacklisted(account);
    }
}
